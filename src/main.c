#include <stdio.h>
int main(void)
{
    puts("mcpgw " MCPGW_VERSION);
    return 0;
}
