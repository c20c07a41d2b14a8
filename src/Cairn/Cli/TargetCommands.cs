using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Cairn.Cli;

/// <summary><c>cairn target create|list|show|delete|allow|deny</c>. Secrets are sent once and never shown again.</summary>
internal static class TargetCommands
{
    public static Command Target()
    {
        var target = new Command("target", "iSCSI targets: LUNs, allowed initiators, CHAP");
        var iqn = new Argument<string>("IQN");
        var volume = new Option<string[]>("--volume") { Description = "Volume (or NAME@SNAP, read-only) to map; repeat for more LUNs", Required = true, AllowMultipleArgumentsPerToken = false };
        var lun = new Option<int>("--lun") { Description = "LUN number of the first volume (default 0)" };
        var initiator = new Option<string[]>("--initiator") { Description = "Initiator IQN allowed to log in; repeat for more" };
        var chapUser = new Option<string?>("--chap-user") { Description = "CHAP user the initiator authenticates as" };
        var chapSecret = new Option<string?>("--chap-secret") { Description = "CHAP secret (12-255 chars; or $CAIRN_CHAP_SECRET)" };
        var mutualUser = new Option<string?>("--mutual-user") { Description = "Mutual CHAP user the target answers as" };
        var mutualSecret = new Option<string?>("--mutual-secret") { Description = "Mutual CHAP secret (or $CAIRN_MUTUAL_SECRET)" };
        var create = new Command("create", "Create a target") { iqn, volume, lun, initiator, chapUser, chapSecret, mutualUser, mutualSecret };
        create.Handle(async (pr, api, ct) =>
        {
            var first = pr.GetValue(lun);
            var luns = new JsonArray();
            foreach (var (v, i) in pr.GetValue(volume)!.Select((v, i) => (v, i))) luns.Add(new JsonObject { ["lun"] = first + i, ["volume"] = v });
            var body = new JsonObject
            {
                ["iqn"] = pr.GetValue(iqn),
                ["luns"] = luns,
                ["initiators"] = new JsonArray((pr.GetValue(initiator) ?? []).Select(x => (JsonNode?)x).ToArray()),
                ["chap_user"] = pr.GetValue(chapUser),
                ["chap_secret"] = pr.GetValue(chapSecret) ?? (pr.GetValue(chapUser) is null ? null : Environment.GetEnvironmentVariable("CAIRN_CHAP_SECRET")),
                ["mutual_user"] = pr.GetValue(mutualUser),
                ["mutual_secret"] = pr.GetValue(mutualSecret) ?? (pr.GetValue(mutualUser) is null ? null : Environment.GetEnvironmentVariable("CAIRN_MUTUAL_SECRET")),
            };
            Show(pr, await api.PostAsync("cairn/v1/targets", body, ct));
        });

        var list = new Command("list", "List targets");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/targets", ct);
            if (pr.GetValue(Commands.JsonOut)) { Output.Json(n); return; }
            Output.Table(["IQN", "LUNS", "INITIATORS", "CHAP", "SESSIONS"], n!.AsArray().Select(t => new[]
            {
                Output.Str(t!["iqn"]),
                string.Join(",", t["luns"]!.AsArray().Select(l => $"{l!["lun"]}:{l["volume"]}{(l["read_only"]!.GetValue<bool>() ? "(ro)" : "")}")),
                t["initiators"]!.AsArray().Count == 0 ? "-" : string.Join(",", t["initiators"]!.AsArray().Select(i => i!.GetValue<string>())),
                t["mutual_user"] is not null ? "mutual" : t["chap_user"] is not null ? "one-way" : "none",
                t["sessions"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture),
            }));
        });

        var show = new Command("show", "Show a target") { iqn };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}", ct)));

        var delete = new Command("delete", "Delete a target; its live sessions are ended") { iqn };
        delete.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}", ct);
            if (!pr.GetValue(Commands.JsonOut)) Console.WriteLine($"deleted {pr.GetValue(iqn)!.ToLowerInvariant()}");
        });

        var init = new Argument<string>("INITIATOR");
        var allow = new Command("allow", "Allow an initiator to log in") { iqn, init };
        allow.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/initiators", new JsonObject { ["initiator"] = pr.GetValue(init) }, ct)));
        var deny = new Command("deny", "Remove an initiator; its sessions are ended") { iqn, init };
        deny.Handle(async (pr, api, ct) => Show(pr, await api.DeleteAsync($"cairn/v1/targets/{Uri.EscapeDataString(pr.GetValue(iqn)!)}/initiators/{Uri.EscapeDataString(pr.GetValue(init)!)}", ct)));

        foreach (var c in new[] { create, list, show, delete, allow, deny }) target.Subcommands.Add(c);
        return target;
    }

    private static void Show(ParseResult pr, JsonNode? n)
    {
        if (pr.GetValue(Commands.JsonOut) || n is not JsonObject o) { Output.Json(n); return; }
        Console.WriteLine($"iqn:        {o["iqn"]}");
        foreach (var l in o["luns"]!.AsArray()) Console.WriteLine($"lun {l!["lun"],-6}  {l["volume"]}{(l["read_only"]!.GetValue<bool>() ? " (read-only)" : "")}");
        Console.WriteLine($"initiators: {(o["initiators"]!.AsArray().Count == 0 ? "(none: nobody may log in)" : string.Join(", ", o["initiators"]!.AsArray().Select(i => i!.GetValue<string>())))}");
        Console.WriteLine($"chap:       {(o["chap_user"] is { } u ? $"user {u}" : "none")}{(o["mutual_user"] is { } m ? $", mutual as {m}" : "")}");
        Console.WriteLine($"sessions:   {o["sessions"]}");
    }
}
