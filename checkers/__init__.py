"""Pure analysis of histories: no database, no network, no clock."""
