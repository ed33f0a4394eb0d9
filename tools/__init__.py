"Tools of the repository that are not part of the `laic_nb` package: the book builder `tools/book.py`, its reader-side checks `tools/book_check.py`, and `tools/spread.py`."
