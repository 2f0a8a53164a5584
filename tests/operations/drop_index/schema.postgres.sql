CREATE TABLE articles (id bigserial PRIMARY KEY, title text NOT NULL, body text, score integer, slug text NOT NULL);
INSERT INTO articles (title, body, score, slug) SELECT 'title-' || g, 'body-' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE g % 100 END, 'slug-' || g FROM generate_series(1, 200) g;
CREATE INDEX articles_score_idx ON articles (score);
