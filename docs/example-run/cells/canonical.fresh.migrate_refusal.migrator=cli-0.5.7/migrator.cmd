awa migrate  (awa 0.5.7, DATABASE_URL=postgres://postgres@127.0.0.1:41439/awacompat_90717da2_c5_945965?sslmode=disable)
