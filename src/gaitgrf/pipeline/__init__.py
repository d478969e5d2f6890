"""The pipeline, one module or package per DVC stage, in the order of `dvc dag`:

    inventory -> validate -> resample -> fuse -> tune (x architectures x conditions)
              -> evaluate -> promote

and `retrain`, which is no stage: the Prefect flows' steps around a `dvc repro` (add an
incoming cohort, run the pipeline, record the outcome). Each stage's entry function is called
by its thin shell in `stages/` and by the Prefect flows in `flows/`.
"""
