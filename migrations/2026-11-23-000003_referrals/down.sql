DROP INDEX family_members_child_birth_name;
DROP TABLE notification_attempts;
DROP TABLE notifications;
DROP TABLE idempotency_keys;
DROP TABLE referral_people;
DROP TABLE referrals;
DROP TABLE client_municipalities;
DROP TABLE clients;
