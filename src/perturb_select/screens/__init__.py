"""Screens in GEARS's layout: names and files (``layout``), raw counts processed here (``raw``), GEARS's
published files validated as they are (``published``), and the arrays training jobs read (``arrays``)."""
