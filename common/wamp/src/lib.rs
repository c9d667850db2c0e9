//! A small async WAMP v2 client. (being written)
