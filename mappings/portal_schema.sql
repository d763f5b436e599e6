-- Reference partner portal schema that the shipped mappings target.
--
-- Portable SQL: runs unchanged on SQLite (3.35+) and PostgreSQL (12+). Conventions:
--   * every TIMESTAMP holds UTC with no offset (SQLite has no zone-aware type, and SQLAlchemy
--     reads SQLite TIMESTAMP text back as a datetime only without one).
--   * text limits of confidential columns match what their encrypted Salesforce field can hold
--     (149 bytes of plaintext in a 255-character Text field).
--   * natural keys (partner and registration numbers) are the primary keys, so no dialect-specific
--     sequences are needed and the registration number doubles as the Salesforce external id.
--   * updated_at changes on every edit by the portal: it is the push watermark, so the portal
--     application (or a trigger) must maintain it.
--   * rows are never hard-deleted by the portal: deleted_at marks them (sync propagates it).
--   * columns marked "Salesforce-owned" are written only by sfsync's pull (decisions made in
--     Salesforce); the portal application must treat them as read-only.
--   * columns marked "confidential" are encrypted by sfsync before they reach Salesforce.
-- Statements are separated by semicolons at line ends (split on ";\n" to run them one by one).

CREATE TABLE IF NOT EXISTS partners (
    partner_number          VARCHAR(20)  NOT NULL PRIMARY KEY,   -- = Account.Partner_Number__c
    name                    VARCHAR(255) NOT NULL,
    tier                    VARCHAR(20)  NOT NULL DEFAULT 'registered'
        CHECK (tier IN ('registered', 'certified', 'gold', 'platinum', 'titanium')),
    max_open_registrations  INTEGER CHECK (max_open_registrations IS NULL OR max_open_registrations >= 0),
    active                  BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at              TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at              TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS deal_registrations (
    registration_number      VARCHAR(40)  NOT NULL PRIMARY KEY,  -- external id: Registration_Number__c
    partner_number           VARCHAR(20)  NOT NULL REFERENCES partners (partner_number),
    -- the end customer
    end_customer_name        VARCHAR(255) NOT NULL,               -- confidential (blind-indexed)
    end_customer_website     VARCHAR(255),                        -- confidential
    end_customer_domain      VARCHAR(255),                        -- confidential (blind-indexed)
    end_customer_country     CHAR(2)      NOT NULL                -- ISO 3166-1 alpha-2
        CHECK (LENGTH(end_customer_country) = 2),
    end_customer_postal_code VARCHAR(20),
    end_customer_duns        VARCHAR(9)                           -- confidential (blind-indexed)
        CHECK (end_customer_duns IS NULL OR LENGTH(end_customer_duns) = 9),
    -- the deal
    product_lines            VARCHAR(255) NOT NULL,               -- comma-separated: servers,storage,networking,pcs
    amount                   NUMERIC(18, 2) NOT NULL CHECK (amount >= 0),
    currency                 CHAR(3)      NOT NULL DEFAULT 'USD', -- ISO 4217
    expected_close_date      DATE         NOT NULL,
    extension_requested      BOOLEAN      NOT NULL DEFAULT FALSE,
    competitive_notes        TEXT,                                -- confidential
    customer_contact_name    VARCHAR(120),                        -- confidential
    customer_contact_email   VARCHAR(149),                        -- confidential
    customer_contact_phone   VARCHAR(40),                         -- confidential
    submitted_at             TIMESTAMP NOT NULL,
    withdrawn_at             TIMESTAMP,            -- the partner withdrew it
    updated_at               TIMESTAMP NOT NULL,
    deleted_at               TIMESTAMP,
    -- Salesforce-owned: the vendor's decision, written back by sfsync
    salesforce_id            VARCHAR(18),
    status                   VARCHAR(20)  NOT NULL DEFAULT 'submitted'
        CHECK (status IN ('submitted', 'under_review', 'approved', 'rejected', 'expired', 'withdrawn')),
    decision_reason          VARCHAR(1000),
    decided_at               TIMESTAMP,
    protection_start         DATE,
    protection_end           DATE,
    conflict_flag            BOOLEAN      NOT NULL DEFAULT FALSE,
    CHECK (protection_end IS NULL OR protection_start IS NULL OR protection_end >= protection_start)
);

CREATE INDEX IF NOT EXISTS ix_deal_registrations_updated_at ON deal_registrations (updated_at);
CREATE INDEX IF NOT EXISTS ix_deal_registrations_partner ON deal_registrations (partner_number);
CREATE INDEX IF NOT EXISTS ix_deal_registrations_status ON deal_registrations (status, protection_end);
CREATE UNIQUE INDEX IF NOT EXISTS ux_deal_registrations_salesforce_id ON deal_registrations (salesforce_id);

CREATE TABLE IF NOT EXISTS account_registrations (
    registration_number      VARCHAR(40)  NOT NULL PRIMARY KEY,  -- external id: Registration_Number__c
    partner_number           VARCHAR(20)  NOT NULL REFERENCES partners (partner_number),
    -- the customer account (SMB)
    customer_name            VARCHAR(255) NOT NULL,               -- confidential (blind-indexed)
    customer_website         VARCHAR(255),                        -- confidential
    customer_domain          VARCHAR(255),                        -- confidential (blind-indexed)
    customer_country         CHAR(2)      NOT NULL CHECK (LENGTH(customer_country) = 2),
    customer_postal_code     VARCHAR(20),
    customer_duns            VARCHAR(9)
        CHECK (customer_duns IS NULL OR LENGTH(customer_duns) = 9),  -- confidential (blind-indexed)
    employee_count           INTEGER CHECK (employee_count IS NULL OR employee_count >= 0),
    product_lines            VARCHAR(255) NOT NULL,               -- comma-separated product line codes
    term_start               DATE         NOT NULL,               -- requested partner-of-record term
    term_end                 DATE         NOT NULL,
    justification            TEXT,                                -- confidential
    customer_contact_name    VARCHAR(120),                        -- confidential
    customer_contact_email   VARCHAR(149),                        -- confidential
    customer_contact_phone   VARCHAR(40),                         -- confidential
    submitted_at             TIMESTAMP NOT NULL,
    withdrawn_at             TIMESTAMP,
    updated_at               TIMESTAMP NOT NULL,
    deleted_at               TIMESTAMP,
    -- Salesforce-owned
    salesforce_id            VARCHAR(18),
    status                   VARCHAR(20)  NOT NULL DEFAULT 'submitted'
        CHECK (status IN ('submitted', 'under_review', 'approved', 'rejected', 'expired', 'withdrawn')),
    decision_reason          VARCHAR(1000),
    decided_at               TIMESTAMP,
    protection_start         DATE,
    protection_end           DATE,
    conflict_flag            BOOLEAN      NOT NULL DEFAULT FALSE,
    CHECK (term_end >= term_start),
    CHECK (protection_end IS NULL OR protection_start IS NULL OR protection_end >= protection_start)
);

CREATE INDEX IF NOT EXISTS ix_account_registrations_updated_at ON account_registrations (updated_at);
CREATE INDEX IF NOT EXISTS ix_account_registrations_partner ON account_registrations (partner_number);
CREATE INDEX IF NOT EXISTS ix_account_registrations_status ON account_registrations (status, protection_end);
CREATE UNIQUE INDEX IF NOT EXISTS ux_account_registrations_salesforce_id ON account_registrations (salesforce_id);
