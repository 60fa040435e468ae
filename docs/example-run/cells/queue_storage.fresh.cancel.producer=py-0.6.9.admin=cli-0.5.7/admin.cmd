awa job cancel 1  (awa 0.5.7, DATABASE_URL=postgres://postgres@127.0.0.1:46371/awacompat_bb835383_c10_129758?sslmode=disable)
exit: exit status 1
