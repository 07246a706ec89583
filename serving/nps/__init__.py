"""Net promoter score answers: stored idempotently by answer id (`nbo_nps`), loaded from files or
`POST /v1/nps`, summarised by segment, channel and month."""
