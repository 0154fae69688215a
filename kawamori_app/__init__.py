"""The composition root: the ``kawamori`` command that wires the components together
(``kawamori up``'s dev stack and supervisor, network files, broker accounts, device
provisioning, staff accounts from the command line). It sits above every component;
nothing imports it."""
