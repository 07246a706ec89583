"""OneID: records from many source systems that share no key, joined into one customer."""
