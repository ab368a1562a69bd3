"""One customer across channels: their mini-program logins (bearer tokens of ours) so far."""
