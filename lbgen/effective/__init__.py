"""The effective model of a config (:mod:`.model`) and the generic differ (:mod:`.differ`)."""
