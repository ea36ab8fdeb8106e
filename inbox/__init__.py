"""E-mail into the centre (CONTRACT §9.3): the mailbox at MAIL_IMAP_URL is read
each minute (`flask --app wsgi mail fetch`); each message becomes a request, or
joins the one whose reference its subject carries. Named `inbox`, not
`mailbox`: that is a module of the standard library."""
