using Cairn.Cli;
using Cairn.Hosting;
using Cairn.Server;

// The server's GC budget can only be set through the environment: see GcBudget.
if (args is ["serve", ..]) GcBudget.EnsureForServe();

return await CairnCli.RunAsync(args);
