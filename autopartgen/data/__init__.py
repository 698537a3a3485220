"""Part datasets: the procedural part-object generator (:mod:`.procedural`), the on-disk format and its
readers/writers (:mod:`.dataset`) and the ``autopartgen data`` commands (:mod:`.cli`)."""
