"""Campaigns (issue 25): the campaign object, its checks, storage, states and audience.

`spec` is the file format and the API body; `checks` holds it against the bank (segments, features,
catalogue); `files` reads campaign files; `store` keeps campaigns and every change in the audit
database; `states` is the state machine; `audience` picks and counts a campaign's customers;
`assignment` puts a customer in the control group or an A/B variant by a stable hash; `board` is
what the CLI, the API and the workbench list (campaigns with audience sizes); `schemas` the HTTP
answers; `cli` the `nbo campaigns` commands.
"""
