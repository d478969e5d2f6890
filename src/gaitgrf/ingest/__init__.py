"""Getting data in: lab formats, the segment model and virtual accelerometers, conversion to
cohorts, and intake of new cohorts."""
