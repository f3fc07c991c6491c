"""One router per kind of user: agencies, practitioners, inquiry, log, admin."""
