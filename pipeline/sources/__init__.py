"""One module per kind of upstream source; `registry.SOURCES` names them all."""
