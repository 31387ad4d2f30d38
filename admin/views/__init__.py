"""One blueprint per page group; views parse input, call a service, render. No business logic here."""
