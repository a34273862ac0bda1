"""The command line, on top of the library: argument parsing and exit codes (:mod:`.main`), the
``--interval`` loop (:mod:`.loop`), the objects of a run (:mod:`.runs`), the app route's commands
(:mod:`.app`) and a run's environment (:mod:`.environment`). Nothing in the library imports it."""
