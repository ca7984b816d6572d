"""The portal: agencies apply and issue certificates, labs report proficiency results, the regulator decides."""
