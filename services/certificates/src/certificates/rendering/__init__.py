"""What people read of a certificate: its public status page (HTML) and its rendered PDF."""
