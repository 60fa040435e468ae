awa job cancel 1  (awa 0.5.7, DATABASE_URL=postgres://postgres@127.0.0.1:41439/awacompat_90717da2_c10_269978?sslmode=disable)
exit: exit status 1
