CREATE TABLE rooms (id bigint PRIMARY KEY, room integer NOT NULL, during tsrange NOT NULL, CONSTRAINT rooms_no_overlap EXCLUDE USING gist (during WITH &&));
