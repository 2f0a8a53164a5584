CREATE TABLE vendors (id bigint PRIMARY KEY, code integer CONSTRAINT vendors_code_key UNIQUE);
CREATE TABLE offers (id bigint PRIMARY KEY, vendor_code integer CONSTRAINT offers_vendor_code_fkey REFERENCES vendors (code));
