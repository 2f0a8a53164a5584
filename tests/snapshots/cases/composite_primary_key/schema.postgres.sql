CREATE TABLE line_items (order_id bigint, line_no integer, qty integer NOT NULL, PRIMARY KEY (order_id, line_no));
