//! Checks shared by the fuzz targets and by the plain tests that replay the corpora.
