-- Each service owns its own database.
CREATE DATABASE approval;
CREATE DATABASE certificates;
CREATE DATABASE supervision;
CREATE DATABASE proficiency;
CREATE DATABASE notifications;
