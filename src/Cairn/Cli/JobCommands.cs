using System.CommandLine;
using System.Globalization;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary><c>cairn job list|show|watch|cancel</c>.</summary>
internal static class JobCommands
{
    private static readonly string[] ShownFields = ["id", "type", "state", "phase", "progress", "created", "started", "finished", "error", "attempts"];

    private static CairnJsonContext Json => CairnJsonContext.Default;

    public static Command Job()
    {
        var job = new Command("job", "Follow durable jobs");
        var id = new Argument<string>("ID");
        var list = new Command("list", "List jobs, newest first");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/jobs", Json.JobSummaryArray, ct);
            if (pr.GetValue(Commands.JsonOut)) { Output.Json(n, Json.JobSummaryArray); return; }
            Output.Table(["ID", "TYPE", "STATE", "PHASE", "PROGRESS", "CREATED"],
                n.Select(j => new[] { j.Id.ToString(), j.Type, j.State, Output.Str(j.Phase),
                    ((int)(j.Progress * 100)).ToString(CultureInfo.InvariantCulture) + "%", Output.Time(j.Created) }));
        });
        var show = new Command("show", "Show a job with its steps, items and recent logs") { id };
        show.Handle(async (pr, api, ct) =>
        {
            var job = await api.GetAsync($"cairn/v1/jobs/{Uri.EscapeDataString(pr.GetValue(id)!)}", Json.JobDetail, ct);
            if (pr.GetValue(Commands.JsonOut)) { Output.Json(job, Json.JobDetail); return; }
            // The header lines print the fields as the server wrote them (times and numbers in their JSON form).
            var o = Output.Node(job, Json.JobDetail)!.AsObject();
            foreach (var key in ShownFields)
                if (o[key] is { } v) Console.WriteLine($"{key + ":",-10} {Output.Str(v)}");
            if (job.Steps.Count > 0)
            {
                Console.WriteLine();
                Output.Table(["STEP", "STATE", "STARTED", "FINISHED", "ERROR"], job.Steps.Select(s => new[] { s.Name, s.State, Output.Time(s.Started), Output.Time(s.Finished), Output.Str(s.Error) }));
            }
            if (job.Items.Count > 0)
            {
                Console.WriteLine();
                Output.Table(["#", "ITEM", "STATE", "ERROR"], job.Items.Take(50).Select(i => new[] { i.Index.ToString(CultureInfo.InvariantCulture), i.Key, i.State, Output.Str(i.Error) }));
                if (job.Items.Count > 50) Console.WriteLine($"… {job.Items.Count - 50} more items (use --json)");
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
                var j = await api.GetAsync(path, Json.JobDetail, ct);
                var logs = await api.GetAsync($"{path}/logs?after={after}", Json.JobLogDtoArray, ct);
                if (tty && logs.Length > 0) Console.Write("\r\x1b[K");
                foreach (var l in logs)
                {
                    Console.WriteLine($"{Output.Time(l.Time)} {l.Level} {l.Message}");
                    after = l.Seq;
                }
                var state = j.State;
                var line = $"{Output.Bar(j.Progress)}  {state}{(j.Phase is { } ph ? " · " + ph : "")}";
                bool done = state is "succeeded" or "failed" or "cancelled";
                if (tty) Console.Write("\r\x1b[K" + line);
                else if (done) Console.WriteLine(line);
                if (done)
                {
                    if (tty) Console.WriteLine();
                    if (state != "succeeded") throw new CliError($"job {state}: {Output.Str(j.Error)}");
                    return;
                }
                await Task.Delay(200, ct);
            }
        });
        var cancel = new Command("cancel", "Ask a running job to stop") { id };
        cancel.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync($"cairn/v1/jobs/{Uri.EscapeDataString(pr.GetValue(id)!)}/cancel", Json.JobSummary, ct), Json.JobSummary));
        job.Subcommands.Add(list);
        job.Subcommands.Add(show);
        job.Subcommands.Add(watch);
        job.Subcommands.Add(cancel);
        return job;
    }
}
