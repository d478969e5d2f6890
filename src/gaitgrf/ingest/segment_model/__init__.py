"""A simple lower-body segment model from skin markers: frames, joint centres, angles, alignment.

Real recordings come with different marker sets (Plug-in Gait, OpenCap/OpenSim). This package
names the anatomical landmarks it needs (`markers.ROLES`), finds them under the names each set
uses, and builds the same segments the synthetic generator moves (`gaitgrf.core.sensors`):
pelvis, thighs, shanks and feet, each with x anterior, y to the subject's left and z along the
segment towards proximal. docs/importing.md describes the model; in short:

* **Pelvis**: y from the right to the left ASIS, x from the PSIS (or sacrum) towards the ASIS
  midpoint, z = x cross y. Sensor site: the sacrum marker, else the PSIS midpoint.
* **Hip joint centre**: a hip-centre marker where the lab exported one, else Harrington et al.
  (2007) from pelvis width and depth.
* **Knee / ankle joint centre**: the midpoint of lateral and medial markers where both exist,
  else a modelled centre exported by the lab (Plug-in Gait's KJC/AJC), else the lateral marker
  moved medially by half the joint width plus the marker radius (Plug-in Gait's rule, Davis
  et al. 1991).
* **Thigh / shank**: z from the distal to the proximal joint centre, y from the medio-lateral
  direction (medial-lateral markers, else the pelvis' y axis) made orthogonal to z.
* **Foot**: x from heel to toe marker, z normal to it in the plane holding the shank's z.

Recordings with technical clusters only (no anatomical landmark, e.g. the c3d.org gait sample)
get `clusters.build_body_from_clusters`: functional joint centres (SCoRE) between neighbouring
clusters, the knee's functional axis for thigh and shank, the foot cluster's long axis for the
foot.

Long axes are well defined by joint centres; rotation about the long axis comes from the pelvis
when no medial markers exist, so thigh and shank internal rotation are only approximate. Angles
read off these frames use `sensors.segment_angles`, the inverse of the generator's composition,
so signs are the contract's by construction.

Modules, in the order a conversion uses them:

* `markers`: marker-set vocabulary and matching (`match_markers`, `MarkerMap`);
* `cleaning`: crop, gap bridging, cluster rigidity checks, low-pass filtering of marker paths;
* `frames`: the `Body` (points and segment frames), frame construction, joint angles, the
  heading frame and static knee alignment;
* `landmarks`: the anatomical-marker model (`build_body`), Plug-in Gait's width rule
  (`offset_centre`);
* `alignment`: which knee and ankle centres may give a static knee alignment, and its method;
* `clusters`: the cluster-only model with functional joint centres (`build_body_from_clusters`).
"""
