using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Cairn.Cli;

/// <summary><c>cairn job list|show|watch|cancel</c>.</summary>
internal static class JobCommands
{
    private static readonly string[] ShownFields = ["id", "type", "state", "phase", "progress", "created", "started", "finished", "error", "attempts"];

    public static Command Job()
    {
        var job = new Command("job", "Follow durable jobs");
        var id = new Argument<string>("ID");
        var list = new Command("list", "List jobs, newest first");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/jobs", ct);
            if (pr.GetValue(Commands.JsonOut)) { Output.Json(n); return; }
            Output.Table(["ID", "TYPE", "STATE", "PHASE", "PROGRESS", "CREATED"],
                n!.AsArray().Select(j => new[] { Output.Str(j!["id"]), Output.Str(j["type"]), Output.Str(j["state"]), Output.Str(j["phase"]),
                    ((int)(j["progress"]!.GetValue<double>() * 100)).ToString(CultureInfo.InvariantCulture) + "%", Output.Time(j["created"]) }));
        });
        var show = new Command("show", "Show a job with its steps, items and recent logs") { id };
        show.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync($"cairn/v1/jobs/{Uri.EscapeDataString(pr.GetValue(id)!)}", ct);
            if (pr.GetValue(Commands.JsonOut)) { Output.Json(n); return; }
            var o = n!.AsObject();
            foreach (var key in ShownFields)
                if (o[key] is { } v) Console.WriteLine($"{key + ":",-10} {Output.Str(v)}");
            if (o["steps"] is JsonArray steps && steps.Count > 0)
            {
                Console.WriteLine();
                Output.Table(["STEP", "STATE", "STARTED", "FINISHED", "ERROR"], steps.Select(s => new[] { Output.Str(s!["name"]), Output.Str(s["state"]), Output.Time(s["started"]), Output.Time(s["finished"]), Output.Str(s["error"]) }));
            }
            if (o["items"] is JsonArray items && items.Count > 0)
            {
                Console.WriteLine();
                Output.Table(["#", "ITEM", "STATE", "ERROR"], items.Take(50).Select(i => new[] { Output.Str(i!["index"]), Output.Str(i["key"]), Output.Str(i["state"]), Output.Str(i["error"]) }));
                if (items.Count > 50) Console.WriteLine($"… {items.Count - 50} more items (use --json)");
            }
        });
        var watch = new Command("watch", "Follow a job until it ends, with a progress bar and its log") { id };
        watch.Handle(async (pr, api, ct) =>
        {
            var path = $"cairn/v1/jobs/{Uri.EscapeDataString(pr.GetValue(id)!)}";
            long after = 0;
            bool tty = !Console.IsOutputRedirected;
            while (true)
            {
                var j = (await api.GetAsync(path, ct))!.AsObject();
                var logs = (await api.GetAsync($"{path}/logs?after={after}", ct))!.AsArray();
                if (tty && logs.Count > 0) Console.Write("\r\x1b[K");
                foreach (var l in logs)
                {
                    Console.WriteLine($"{Output.Time(l!["time"])} {Output.Str(l["level"])} {Output.Str(l["message"])}");
                    after = l["seq"]!.GetValue<long>();
                }
                var state = j["state"]!.GetValue<string>();
                var line = $"{Output.Bar(j["progress"]?.GetValue<double>() ?? 0)}  {state}{(j["phase"] is { } ph ? " · " + Output.Str(ph) : "")}";
                bool done = state is "succeeded" or "failed" or "cancelled";
                if (tty) Console.Write("\r\x1b[K" + line);
                else if (done) Console.WriteLine(line);
                if (done)
                {
                    if (tty) Console.WriteLine();
                    if (state != "succeeded") throw new CliError($"job {state}: {Output.Str(j["error"])}");
                    return;
                }
                await Task.Delay(200, ct);
            }
        });
        var cancel = new Command("cancel", "Ask a running job to stop") { id };
        cancel.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync($"cairn/v1/jobs/{Uri.EscapeDataString(pr.GetValue(id)!)}/cancel", new JsonObject(), ct)));
        job.Subcommands.Add(list);
        job.Subcommands.Add(show);
        job.Subcommands.Add(watch);
        job.Subcommands.Add(cancel);
        return job;
    }
}
