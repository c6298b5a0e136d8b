"""nginx (and NGINX Plus): everything lbgen knows about it."""
