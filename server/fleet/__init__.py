"""A fleet of servers sharing one product store on NATS JetStream (README "A fleet of servers").

loop.py runs the asyncio client on a thread of its own; connection.py talks to NATS; manifest.py is what the
Key-Value bucket holds per product; store.py is the VersionStore that writes to the fleet, then the local
folder; sync.py brings versions other servers stored into the local folder; fleet.py puts them together.
"""
