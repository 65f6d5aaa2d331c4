"""`make bundle`: everything a line PC without network needs to run the server, in one file."""
