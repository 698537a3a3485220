"""Importers of articulated models (MuJoCo MJCF, URDF) into the on-disk part format, one part per rigid
link: :mod:`.articulated` holds the common kinematic model, forward kinematics and the writer;
:mod:`.mjcf` and :mod:`.urdf` read the two file formats into it."""
