using System.CommandLine;
using System.Globalization;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary><c>cairn job list|show|watch|cancel</c>.</summary>
internal static class JobCommands
{
    private static CairnJsonContext Json => CairnJsonContext.Default;

    public static Command Job()
    {
        var job = new Command("job", "Follow durable jobs");
        var id = new Argument<string>("ID") { Description = "Job id (as 'cairn job list' shows it)" };
        var state = new Option<string?>("--state") { HelpName = "STATE", Description = "Only jobs in this state: pending, running, succeeded, failed or cancelled" };
        var type = new Option<string?>("--type") { HelpName = "TYPE", Description = "Only jobs of this type (as the TYPE column shows it, e.g. batch)" };
        var limit = new Option<int?>("--limit") { HelpName = "N", Description = "At most N jobs (default 100)" };
        var list = new Command("list", "List jobs, newest first") { state, type, limit };
        list.Handle(async (pr, api, ct) =>
        {
            var q = new List<string>();
            if (pr.GetValue(state) is { } s) q.Add("state=" + Uri.EscapeDataString(s));
            if (pr.GetValue(type) is { } t) q.Add("type=" + Uri.EscapeDataString(t));
            if (pr.GetValue(limit) is { } l) q.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
            var n = await api.GetAsync("cairn/v1/jobs" + (q.Count == 0 ? "" : "?" + string.Join('&', q)), Json.JobSummaryArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.JobSummaryArray); return; }
            Output.Table(["ID", "TYPE", "STATE", "PHASE", "PROGRESS", "CREATED"],
                n.Select(j => new[] { j.Id.ToString(), j.Type, j.State, Output.Str(j.Phase), Output.Percent(j.Progress), Output.Time(j.Created) }));
        });
        var show = new Command("show", "Show a job with its steps and items") { id };
        show.Handle(async (pr, api, ct) =>
        {
            var job = await api.GetAsync(JobPath(pr.GetValue(id)!), Json.JobDetail, ct);
            if (pr.JsonWanted()) { Output.Json(job, Json.JobDetail); return; }
            Print(job);
        });
        var watch = new Command("watch", "Follow a job until it ends: its log on stdout, a progress bar on stderr when that is a terminal") { id };
        watch.Handle(async (pr, api, ct) =>
        {
            var path = JobPath(pr.GetValue(id)!);
            var json = pr.JsonWanted();
            long after = 0;
            Progress? bar = null;
            while (true)
            {
                var j = await api.GetAsync(path, Json.JobDetail, ct);
                bar ??= new Progress($"job {j.Type}");
                var logs = await api.GetAsync($"{path}/logs?after={after}", Json.JobLogDtoArray, ct);
                if (logs.Length > 0 && !json) bar.Clear();
                foreach (var l in logs)
                {
                    if (!json) Console.WriteLine($"{Output.Time(l.Time)} {l.Level} {l.Message}");
                    after = l.Seq;
                }
                bool done = j.State is "succeeded" or "failed" or "cancelled";
                bar.Update(j.Progress, j.State + (j.Phase is { } ph ? " · " + ph : "") + (j.Items.Count > 0 ? $"  {j.Items.Count(i => i.State is "done" or "failed" or "skipped")}/{j.Items.Count} items" : ""), force: true);
                if (done)
                {
                    var secs = Math.Max(j.Seconds ?? bar.Elapsed.TotalSeconds, 0.001);
                    bar.Done(summary: j.State + (j.Items.Count > 0
                        ? $": {j.Items.Count} items in {Output.Seconds(secs)} ({(j.Items.Count / secs).ToString("0.0", CultureInfo.InvariantCulture)} items/s)"
                        : $" in {Output.Seconds(secs)}"));
                    if (json) Output.Json(j, Json.JobDetail);
                    else
                    {
                        Console.WriteLine();
                        Print(j, items: false);
                    }
                    if (j.State != "succeeded") throw new CliError($"job {j.State}: {Output.Str(j.Error)}");
                    return;
                }
                await Task.Delay(200, ct);
            }
        });
        var cancel = new Command("cancel", "Ask a running job to stop") { id };
        cancel.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync($"{JobPath(pr.GetValue(id)!)}/cancel", Json.JobSummary, ct), Json.JobSummary, j => [
            ("id", j.Id.ToString()), ("type", j.Type), ("state", j.State), ("phase", Output.Str(j.Phase)), ("progress", Output.Percent(j.Progress)),
            ("created", Output.Time(j.Created)), ("started", Output.Time(j.Started)), ("finished", Output.Time(j.Finished)),
            ("seconds", Output.Seconds(j.Seconds)), ("error", Output.Str(j.Error)), ("attempts", j.Attempts.ToString(CultureInfo.InvariantCulture)),
        ]));
        job.Subcommands.Add(list);
        job.Subcommands.Add(show);
        job.Subcommands.Add(watch);
        job.Subcommands.Add(cancel);
        return job;
    }

    private static string JobPath(string id) => $"cairn/v1/jobs/{Uri.EscapeDataString(id)}";

    /// <summary>A job as aligned fields, then its steps and (the first 50) items as tables.</summary>
    private static void Print(JobDetail job, bool items = true)
    {
        Output.Fields(("id", job.Id.ToString()), ("type", job.Type), ("state", job.State), ("phase", Output.Str(job.Phase)),
            ("progress", Output.Percent(job.Progress)), ("created", Output.Time(job.Created)), ("started", Output.Time(job.Started)),
            ("finished", Output.Time(job.Finished)), ("seconds", Output.Seconds(job.Seconds)), ("error", Output.Str(job.Error)),
            ("attempts", job.Attempts.ToString(CultureInfo.InvariantCulture)), ("items", job.Items.Count.ToString(CultureInfo.InvariantCulture)));
        if (job.Steps.Count > 0)
        {
            Console.WriteLine();
            Output.Table(["STEP", "STATE", "STARTED", "FINISHED", "ERROR"], job.Steps.Select(s => new[] { s.Name, s.State, Output.Time(s.Started), Output.Time(s.Finished), Output.Str(s.Error) }));
        }
        if (items && job.Items.Count > 0)
        {
            Console.WriteLine();
            Output.Table(["#", "ITEM", "STATE", "ERROR"], job.Items.Take(50).Select(i => new[] { i.Index.ToString(CultureInfo.InvariantCulture), i.Key, i.State, Output.Str(i.Error) }));
            if (job.Items.Count > 50) Console.WriteLine($"… {job.Items.Count - 50} more items (use --json)");
        }
    }
}
