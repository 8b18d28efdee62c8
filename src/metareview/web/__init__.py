"""The team web app: accounts (:mod:`.accounts`) and the pages (:mod:`.app`)."""
