"""The portal's pure part: records folded from public events, states, reports, exports."""
