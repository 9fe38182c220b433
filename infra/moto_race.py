"""Races two conditional TransactWriteItems on one key against a moto server and
counts what DynamoDB never allows: two winners, or the winner's write lost.

Usage: python infra/moto_race.py URL [TRIALS]  (URL of a running moto server)

On moto's own server (`python -m moto.server`) a failed transaction restores a copy
of the table taken at its start and may erase a racing winner's write; on
infra/moto_server.py (DynamoDB requests one at a time) both counts stay 0.
"""

import sys
import threading

import boto3


def client(url):
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def main():
    url = sys.argv[1]
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    c = client(url)
    table = "race"
    c.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # A table of some size: moto copies it whole at each transaction's start.
    for i in range(0, 1500, 25):
        c.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"fill{i + j}"}, "pad": {"S": "x" * 200}}}}
                    for j in range(25)
                ]
            }
        )
    racers = {who: client(url) for who in "AB"}
    doubles = lost = 0
    for trial in range(trials):
        wins = []
        start = threading.Barrier(2)

        def race(who):
            start.wait()
            try:
                racers[who].transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {"pk": {"S": f"r{trial}"}, "who": {"S": who}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": {"TableName": table, "Item": {"pk": {"S": f"s{trial}-{who}"}}}},
                    ]
                )
                wins.append(who)
            except racers[who].exceptions.TransactionCanceledException:
                pass

        threads = [threading.Thread(target=race, args=(w,)) for w in "AB"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        doubles += len(wins) > 1
        got = c.get_item(TableName=table, Key={"pk": {"S": f"r{trial}"}}).get("Item")
        lost += bool(wins) and (got is None or got["who"]["S"] != wins[0])
    print(f"{trials} trials: two winners {doubles}, winner's write lost {lost}")


if __name__ == "__main__":
    main()
