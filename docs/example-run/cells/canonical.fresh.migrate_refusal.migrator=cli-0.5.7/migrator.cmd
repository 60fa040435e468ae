awa migrate  (awa 0.5.7, DATABASE_URL=postgres://postgres@127.0.0.1:46371/awacompat_bb835383_c5_27014?sslmode=disable)
