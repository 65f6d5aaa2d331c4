"""A fleet of servers sharing one product store on NATS JetStream (README "A fleet of servers").

connection.py talks to NATS (asyncio, on the server's event loop); manifest.py is what the
Key-Value bucket holds per product; store.py is the VersionStore that writes to the fleet, then the local
folder; sync.py brings versions other servers stored into the local folder; fleet.py puts them together.
"""
