"""Part datasets: the procedural part-object generator (:mod:`.procedural`, a package: primitives,
category families, building), the realistic fused input (:mod:`.fused_input`), importers of articulated
models (:mod:`.importers`: MJCF, URDF), the on-disk format and its readers/writers (:mod:`.dataset`) and
the ``autopartgen data`` commands (:mod:`.cli`)."""
