"""One keep-alive connection posting N new alerts (the load benchmark's payload), one at a time: client.py PORT TOKEN PREFIX N."""
import http.client, json, sys, datetime
port, token, prefix, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
h = {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'}
created = 0
for i in range(n):
    starts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = {"version": "4", "status": "firing", "receiver": "tianshu", "groupKey": "{}:{}",
            "alerts": [{"status": "firing", "labels": {"alertname": "BenchDiskFull%d" % (i % 20), "instance": "%s-%d" % (prefix, i),
                        "job": "node", "severity": "warning", "system": "crm", "region": "guangzhou"},
                        "annotations": {"summary": "disk almost full"}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z"}]}
    c.request('POST', '/api/v1/alerts/alertmanager', json.dumps(body), h)
    r = c.getresponse(); d = r.read()
    if r.status != 200: print('HTTP', r.status, d[:200]); sys.exit(1)
    if json.loads(d)['items'][0]['result'] == 'created': created += 1
print(prefix, 'created', created, 'of', n)
