"Tools of the repository that are not part of the `laic_nb` package (the book builder: `tools/book.py`)."
