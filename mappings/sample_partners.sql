-- Sample data for portal_schema.sql (SQLite and PostgreSQL): three partners, a few registrations.
-- All names, domains and numbers are invented.

INSERT INTO partners (partner_number, name, tier, max_open_registrations, active, created_at, updated_at) VALUES
    ('P-001', 'Northwind Solutions', 'platinum', 200, TRUE, '2026-01-05 09:00:00', '2026-01-05 09:00:00'),
    ('P-002', 'Contoso Systems', 'gold', 50, TRUE, '2026-02-10 09:00:00', '2026-02-10 09:00:00'),
    ('P-003', 'Fabrikam IT', 'registered', 5, TRUE, '2026-03-15 09:00:00', '2026-03-15 09:00:00');

INSERT INTO deal_registrations (
    registration_number, partner_number, end_customer_name, end_customer_website, end_customer_domain,
    end_customer_country, end_customer_postal_code, end_customer_duns, product_lines, amount, currency,
    expected_close_date, extension_requested, competitive_notes, customer_contact_name,
    customer_contact_email, customer_contact_phone, submitted_at, updated_at, status
) VALUES
    ('DR-000001', 'P-001', 'Acme Foods Inc.', 'https://www.acmefoods.example', 'acmefoods.example', 'US', '94105',
     '123456789', 'servers,storage', 120000.00, 'USD', '2026-12-15', FALSE,
     'Incumbent is a competitor; customer wants a storage refresh by Q1.', 'Jane Roe', 'jane.roe@acmefoods.example',
     '+1 415 555 0100', '2026-11-02 14:30:00', '2026-11-02 14:30:00', 'submitted'),
    ('DR-000002', 'P-002', 'Globex GmbH', 'https://globex.example', 'globex.example', 'DE', '10115', NULL,
     'networking', 55000.00, 'EUR', '2027-01-31', FALSE, NULL, 'Max Mustermann', 'max@globex.example', NULL,
     '2026-11-03 08:00:00', '2026-11-03 08:00:00', 'submitted'),
    ('DR-000003', 'P-003', 'Initech Ltd', NULL, NULL, 'GB', 'EC1A 1BB', NULL, 'pcs', 18000.00, 'GBP',
     '2026-12-20', FALSE, NULL, NULL, NULL, NULL, '2026-11-04 16:45:00', '2026-11-04 16:45:00', 'submitted');

INSERT INTO account_registrations (
    registration_number, partner_number, customer_name, customer_website, customer_domain, customer_country,
    customer_postal_code, customer_duns, employee_count, product_lines, term_start, term_end, justification,
    customer_contact_name, customer_contact_email, submitted_at, updated_at, status
) VALUES
    ('AR-000001', 'P-001', 'Umbrella Dental LLC', 'https://umbrelladental.example', 'umbrelladental.example', 'US',
     '10001', '987654321', 45, 'servers,pcs', '2026-12-01', '2027-11-30',
     'Installed base since 2021; manages all IT for the customer.', 'Dr. Ada Smith', 'ada@umbrelladental.example',
     '2026-11-05 10:00:00', '2026-11-05 10:00:00', 'submitted');
