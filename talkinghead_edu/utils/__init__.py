"""Small shared helpers: atomic file writes and safe checkpoints (:mod:`.io`)."""
