"""The staff console (/staff/...): queue, hand-over and contact pages behind the staff login."""
