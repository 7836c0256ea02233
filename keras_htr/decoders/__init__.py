"""CTC decoders: greedy and beam search, returning text and confidence."""
